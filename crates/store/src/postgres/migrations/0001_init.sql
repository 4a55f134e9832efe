-- Accounts and the graph, as on SQLite. Keys are compared bytewise (COLLATE "C"):
-- they are hex and ids, and a locale's collation would only make every lookup slower.

CREATE TABLE users (
    id text COLLATE "C" PRIMARY KEY,
    email text NOT NULL,
    password_hash text NOT NULL,
    root_id text COLLATE "C" NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE node (
    hex text COLLATE "C" PRIMARY KEY,
    type text NOT NULL,
    owner text COLLATE "C" NOT NULL,
    ctx text NOT NULL,
    ver bigint NOT NULL
);

CREATE TABLE edge (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hex text COLLATE "C" NOT NULL UNIQUE,
    type text NOT NULL,
    owner text COLLATE "C" NOT NULL,
    src text COLLATE "C" NOT NULL,
    dst text COLLATE "C" NOT NULL,
    ctx text NOT NULL,
    ver bigint NOT NULL
);
CREATE INDEX edge_out ON edge (src, seq);
CREATE INDEX edge_in ON edge (dst, seq);

CREATE TABLE grants (
    target text COLLATE "C" NOT NULL,
    grantee text COLLATE "C" NOT NULL,
    level integer NOT NULL,
    PRIMARY KEY (target, grantee)
);

CREATE TABLE usage (
    root text COLLATE "C" PRIMARY KEY,
    nodes bigint NOT NULL,
    edges bigint NOT NULL,
    bytes bigint NOT NULL
);
