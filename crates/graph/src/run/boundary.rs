//! `RunGraph` as the runtime sees it: each `GraphRun` call boxes the inherent one's
//! future (the runtime holds runs as trait objects, which cannot return `impl Future`).

use walker_core::access::{BoxFuture, CommitError, Level};
use walker_runtime::graph::{GraphRun, Neighbours, Outcome};

use super::RunGraph;

impl GraphRun for RunGraph {
    fn begin_call(&mut self) -> BoxFuture<'_, wasmtime::Result<()>> {
        Box::pin(RunGraph::begin_call(self))
    }

    fn root(&self) -> String {
        RunGraph::root(self)
    }

    fn here(&mut self) -> BoxFuture<'_, wasmtime::Result<String>> {
        Box::pin(RunGraph::here(self))
    }

    fn get<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, wasmtime::Result<Option<String>>> {
        Box::pin(RunGraph::get(self, id))
    }

    fn access<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, wasmtime::Result<Level>> {
        Box::pin(RunGraph::access(self, id))
    }

    fn neighbours<'a>(&'a mut self, node: &'a str, query: Neighbours<'a>) -> BoxFuture<'a, Outcome<String>> {
        Box::pin(RunGraph::neighbours(self, node, query))
    }

    fn create<'a>(&'a mut self, node_type: &'a str, context: &'a str) -> BoxFuture<'a, Outcome<String>> {
        Box::pin(RunGraph::create(self, node_type, context))
    }

    fn create_object<'a>(&'a mut self, object_type: &'a str, context: &'a str) -> BoxFuture<'a, Outcome<String>> {
        Box::pin(RunGraph::create_object(self, object_type, context))
    }

    fn spawn<'a>(
        &'a mut self,
        from: &'a str,
        edge_type: &'a str,
        edge_context: &'a str,
        node_type: &'a str,
        context: &'a str,
    ) -> BoxFuture<'a, Outcome<String>> {
        Box::pin(RunGraph::spawn(self, from, edge_type, edge_context, node_type, context))
    }

    fn connect<'a>(
        &'a mut self,
        from: &'a str,
        to: &'a str,
        edge_type: &'a str,
        context: &'a str,
    ) -> BoxFuture<'a, Outcome<String>> {
        Box::pin(RunGraph::connect(self, from, to, edge_type, context))
    }

    fn disconnect<'a>(
        &'a mut self,
        from: &'a str,
        to: &'a str,
        edge_type: Option<&'a str>,
    ) -> BoxFuture<'a, Outcome<u32>> {
        Box::pin(RunGraph::disconnect(self, from, to, edge_type))
    }

    fn update<'a>(&'a mut self, id: &'a str, fields: &'a str) -> BoxFuture<'a, Outcome<String>> {
        Box::pin(RunGraph::update(self, id, fields))
    }

    fn delete<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, Outcome<()>> {
        Box::pin(RunGraph::delete(self, id))
    }

    fn grant<'a>(
        &'a mut self,
        target: &'a str,
        grantee: Option<&'a str>,
        level: Option<Level>,
    ) -> BoxFuture<'a, Outcome<()>> {
        Box::pin(RunGraph::grant(self, target, grantee, level))
    }

    fn owned<'a>(
        &'a mut self,
        node_type: Option<&'a str>,
        limit: u32,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Outcome<String>> {
        Box::pin(RunGraph::owned(self, node_type, limit, cursor))
    }

    fn count(&mut self) -> BoxFuture<'_, wasmtime::Result<String>> {
        Box::pin(RunGraph::count(self))
    }

    fn reset(&mut self) -> BoxFuture<'_, Outcome<u32>> {
        Box::pin(RunGraph::reset(self))
    }

    fn keep(&mut self, node: Option<&str>) {
        RunGraph::keep(self, node)
    }

    fn others_written(&self) -> Vec<String> {
        RunGraph::others_written(self)
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), CommitError>> {
        Box::pin(RunGraph::commit(*self))
    }
}
