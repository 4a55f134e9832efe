-- The edges between two nodes, of a type: `disconnect` finds them without reading every
-- edge of the source.
CREATE INDEX IF NOT EXISTS edge_ends ON edge (src, dst, type);
