//! The `graph` import: translates WIT calls to the run's `RunGraph` and back.

use wasmtime::Result;

use super::bindings::jac::walker::graph::{self as wit, Direction, Level, Query};
use super::sandbox::RunState;
use crate::graph::{GraphError, Neighbours, RunGraph};
use crate::store;

fn to_wit(err: GraphError) -> wit::Error {
    match err {
        GraphError::NotFound(msg) => wit::Error::NotFound(msg),
        GraphError::Denied(msg) => wit::Error::Denied(msg),
        GraphError::Invalid(msg) => wit::Error::Invalid(msg),
    }
}

fn level_from_wit(level: Level) -> store::Level {
    match level {
        Level::NoAccess => store::Level::NoAccess,
        Level::Read => store::Level::Read,
        Level::Connect => store::Level::Connect,
        Level::Write => store::Level::Write,
    }
}

fn level_to_wit(level: store::Level) -> Level {
    match level {
        store::Level::NoAccess => Level::NoAccess,
        store::Level::Read => Level::Read,
        store::Level::Connect => Level::Connect,
        store::Level::Write => Level::Write,
    }
}

impl RunState {
    /// One graph call, counted, made off the cores: the run's slice pauses while it waits
    /// for the root's lock or the store. Walkers listing their specs have no graph.
    async fn graph_call<T>(&mut self, call: impl AsyncFnOnce(&mut RunGraph) -> Result<T>) -> Result<T> {
        let graph = self.graph.as_mut().ok_or_else(|| wasmtime::Error::msg("the graph is only available in a run"))?;
        self.slices.pause();
        let result = match graph.begin_call().await {
            Ok(()) => call(graph).await,
            Err(err) => Err(err),
        };
        self.slices.resume().await;
        result
    }
}

impl wit::Host for RunState {
    async fn here(&mut self) -> Result<String> {
        self.graph_call(async |graph| graph.here().await).await
    }

    async fn root(&mut self) -> Result<String> {
        self.graph_call(async |graph| Ok(graph.root())).await
    }

    async fn get(&mut self, target: String) -> Result<Option<String>> {
        self.graph_call(async |graph| graph.get(&target).await).await
    }

    async fn neighbours(&mut self, node: String, query: Query) -> Result<Result<String, wit::Error>> {
        let query = Neighbours {
            direction: match query.direction {
                Direction::Out => store::Direction::Out,
                Direction::In => store::Direction::In,
                Direction::Both => store::Direction::Both,
            },
            edge_type: query.edge_type.as_deref(),
            node_type: query.node_type.as_deref(),
            equals: query.equals.as_deref(),
            limit: query.limit,
            cursor: query.cursor.as_deref(),
        };
        self.graph_call(async |graph| Ok(graph.neighbours(&node, query).await?.map_err(to_wit))).await
    }

    async fn create(&mut self, node_type: String, context: String) -> Result<Result<String, wit::Error>> {
        self.graph_call(async |graph| Ok(graph.create(&node_type, &context).await?.map_err(to_wit))).await
    }

    async fn spawn(
        &mut self,
        from: String,
        edge_type: String,
        edge_context: String,
        node_type: String,
        context: String,
    ) -> Result<Result<String, wit::Error>> {
        self.graph_call(async |graph| {
            Ok(graph.spawn(&from, &edge_type, &edge_context, &node_type, &context).await?.map_err(to_wit))
        })
        .await
    }

    async fn connect(
        &mut self,
        from: String,
        to: String,
        edge_type: String,
        context: String,
    ) -> Result<Result<String, wit::Error>> {
        self.graph_call(async |graph| Ok(graph.connect(&from, &to, &edge_type, &context).await?.map_err(to_wit))).await
    }

    async fn disconnect(
        &mut self,
        from: String,
        to: String,
        edge_type: Option<String>,
    ) -> Result<Result<u32, wit::Error>> {
        self.graph_call(async |graph| Ok(graph.disconnect(&from, &to, edge_type.as_deref()).await?.map_err(to_wit)))
            .await
    }

    async fn update(&mut self, target: String, fields: String) -> Result<Result<String, wit::Error>> {
        self.graph_call(async |graph| Ok(graph.update(&target, &fields).await?.map_err(to_wit))).await
    }

    async fn delete(&mut self, target: String) -> Result<Result<(), wit::Error>> {
        self.graph_call(async |graph| Ok(graph.delete(&target).await?.map_err(to_wit))).await
    }

    async fn grant(&mut self, target: String, grantee: Option<String>, level: Level) -> Result<Result<(), wit::Error>> {
        let level = Some(level_from_wit(level));
        self.graph_call(async |graph| Ok(graph.grant(&target, grantee.as_deref(), level).await?.map_err(to_wit))).await
    }

    async fn revoke(&mut self, target: String, grantee: Option<String>) -> Result<Result<(), wit::Error>> {
        self.graph_call(async |graph| Ok(graph.grant(&target, grantee.as_deref(), None).await?.map_err(to_wit))).await
    }

    async fn access(&mut self, target: String) -> Result<Result<Level, wit::Error>> {
        self.graph_call(async |graph| Ok(Ok(level_to_wit(graph.access(&target).await?)))).await
    }
}
