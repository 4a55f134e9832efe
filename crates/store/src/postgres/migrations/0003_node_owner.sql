-- A root's own nodes, in id order: `reset_graph` and listing a root's whole graph.
CREATE INDEX IF NOT EXISTS node_owner ON node (owner, hex);
