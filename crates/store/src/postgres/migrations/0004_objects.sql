-- jac objects (`o:<Type>:<hex>`) are node rows that no edge may end at.
ALTER TABLE node ADD COLUMN IF NOT EXISTS obj boolean NOT NULL DEFAULT false;
