-- The app's own user fields (`--user-fields`): a JSON object per account.
ALTER TABLE users ADD COLUMN IF NOT EXISTS fields text NOT NULL DEFAULT '{}';
