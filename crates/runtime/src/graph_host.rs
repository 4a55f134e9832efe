//! The `graph` import: translates WIT calls to the run's `GraphRun` and back.

use wasmtime::Result;

use super::bindings::jac::walker::graph::{self as wit, Direction, Level, Query};
use super::cores::timed;
use super::sandbox::RunState;
use walker_core::access;

use crate::graph::{GraphError, GraphRun, Neighbours, Yields};

fn to_wit(err: GraphError) -> wit::Error {
    match err {
        GraphError::NotFound(msg) => wit::Error::NotFound(msg),
        GraphError::Denied(msg) => wit::Error::Denied(msg),
        GraphError::Invalid(msg) => wit::Error::Invalid(msg),
    }
}

fn level_from_wit(level: Level) -> access::Level {
    match level {
        Level::NoAccess => access::Level::NoAccess,
        Level::Read => access::Level::Read,
        Level::Connect => access::Level::Connect,
        Level::Write => access::Level::Write,
    }
}

fn level_to_wit(level: access::Level) -> Level {
    match level {
        access::Level::NoAccess => Level::NoAccess,
        access::Level::Read => Level::Read,
        access::Level::Connect => Level::Connect,
        access::Level::Write => Level::Write,
    }
}

impl RunState {
    /// The run's graph, its call counted; walkers listing their specs have none.
    async fn graph(&mut self) -> Result<&mut dyn GraphRun> {
        let graph = self.graph.as_mut().ok_or_else(|| wasmtime::Error::msg("the graph is only available in a run"))?;
        graph.begin_call().await?;
        Ok(graph.as_mut())
    }
}

/// Runs one call on the run's graph, charging the CPU its polls take (store reads, JSON)
/// to the run and its tenant; the wait for the root's lock, in `graph()`, is not charged.
macro_rules! graph_call {
    ($state:expr, |$graph:ident| $call:expr) => {{
        let $graph = $state.graph().await?;
        let (result, spent) = timed(async { $call }).await;
        $state.slices.charge_host(spent);
        result
    }};
}

impl RunState {
    /// A node's neighbours, or the edges to them, as `query` filters them.
    async fn adjacent(&mut self, node: String, query: Query, yields: Yields) -> Result<Result<String, wit::Error>> {
        let query = Neighbours {
            direction: match query.direction {
                Direction::Out => access::Direction::Out,
                Direction::In => access::Direction::In,
                Direction::Both => access::Direction::Both,
            },
            edge_type: query.edge_type.as_deref(),
            node_type: query.node_type.as_deref(),
            equals: query.equals.as_deref(),
            limit: query.limit,
            cursor: query.cursor.as_deref(),
            yields,
        };
        Ok(graph_call!(self, |graph| graph.neighbours(&node, query).await)?.map_err(to_wit))
    }
}

impl wit::Host for RunState {
    async fn here(&mut self) -> Result<String> {
        graph_call!(self, |graph| graph.here().await)
    }

    async fn root(&mut self) -> Result<String> {
        Ok(self.graph().await?.root())
    }

    async fn get(&mut self, target: String) -> Result<Option<String>> {
        graph_call!(self, |graph| graph.get(&target).await)
    }

    async fn neighbours(&mut self, node: String, query: Query) -> Result<Result<String, wit::Error>> {
        self.adjacent(node, query, Yields::Nodes).await
    }

    async fn edges(&mut self, node: String, query: Query) -> Result<Result<String, wit::Error>> {
        self.adjacent(node, query, Yields::Edges).await
    }

    async fn create(&mut self, node_type: String, context: String) -> Result<Result<String, wit::Error>> {
        Ok(graph_call!(self, |graph| graph.create(&node_type, &context).await)?.map_err(to_wit))
    }

    async fn create_object(&mut self, object_type: String, context: String) -> Result<Result<String, wit::Error>> {
        Ok(graph_call!(self, |graph| graph.create_object(&object_type, &context).await)?.map_err(to_wit))
    }

    async fn spawn(
        &mut self,
        from: String,
        edge_type: String,
        edge_context: String,
        node_type: String,
        context: String,
    ) -> Result<Result<String, wit::Error>> {
        let spawned =
            graph_call!(self, |graph| graph.spawn(&from, &edge_type, &edge_context, &node_type, &context).await);
        Ok(spawned?.map_err(to_wit))
    }

    async fn connect(
        &mut self,
        from: String,
        to: String,
        edge_type: String,
        context: String,
    ) -> Result<Result<String, wit::Error>> {
        Ok(graph_call!(self, |graph| graph.connect(&from, &to, &edge_type, &context).await)?.map_err(to_wit))
    }

    async fn disconnect(
        &mut self,
        from: String,
        to: String,
        edge_type: Option<String>,
    ) -> Result<Result<u32, wit::Error>> {
        Ok(graph_call!(self, |graph| graph.disconnect(&from, &to, edge_type.as_deref()).await)?.map_err(to_wit))
    }

    async fn update(&mut self, target: String, fields: String) -> Result<Result<String, wit::Error>> {
        Ok(graph_call!(self, |graph| graph.update(&target, &fields).await)?.map_err(to_wit))
    }

    async fn delete(&mut self, target: String) -> Result<Result<(), wit::Error>> {
        Ok(graph_call!(self, |graph| graph.delete(&target).await)?.map_err(to_wit))
    }

    async fn grant(&mut self, target: String, grantee: Option<String>, level: Level) -> Result<Result<(), wit::Error>> {
        let level = Some(level_from_wit(level));
        Ok(graph_call!(self, |graph| graph.grant(&target, grantee.as_deref(), level).await)?.map_err(to_wit))
    }

    async fn revoke(&mut self, target: String, grantee: Option<String>) -> Result<Result<(), wit::Error>> {
        Ok(graph_call!(self, |graph| graph.grant(&target, grantee.as_deref(), None).await)?.map_err(to_wit))
    }

    async fn nodes(
        &mut self,
        node_type: Option<String>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Result<String, wit::Error>> {
        let listed = graph_call!(self, |graph| graph.owned(node_type.as_deref(), limit, cursor.as_deref()).await);
        Ok(listed?.map_err(to_wit))
    }

    async fn count(&mut self) -> Result<String> {
        graph_call!(self, |graph| graph.count().await)
    }

    async fn reset(&mut self) -> Result<Result<u32, wit::Error>> {
        Ok(graph_call!(self, |graph| graph.reset().await)?.map_err(to_wit))
    }

    async fn keep(&mut self, node: Option<String>) -> Result<()> {
        self.graph().await?.keep(node.as_deref());
        Ok(())
    }

    async fn access(&mut self, target: String) -> Result<Result<Level, wit::Error>> {
        Ok(Ok(level_to_wit(graph_call!(self, |graph| graph.access(&target).await)?)))
    }
}
