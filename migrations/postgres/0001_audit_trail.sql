-- The audit trail on PostgreSQL: the same two tables as on SQLite (src/decisions/audit/sqlite-schema.ts), each
-- partitioned by month of decided_at so that retention drops whole months (npm run audit:retention). A batch row and
-- its decisions share decided_at, so they always sit in the same month's partitions. The monthly partitions
-- themselves are created by the application (src/decisions/audit/postgres-schema.ts), a few months ahead.

-- One row per decided request: what the lender must be able to show for each of its decisions, compactly encoded as
-- one JSON array in body (see Entry in src/decisions/audit/records.ts).
CREATE TABLE decision_batches (
  batch_id       text NOT NULL,
  caller         text,
  received_at    timestamptz NOT NULL,
  decided_at     timestamptz NOT NULL,
  latency_ms     double precision NOT NULL,
  model_version  text NOT NULL,
  model_sha256   text NOT NULL,
  policy_version text NOT NULL,
  -- {"r":{reason code: description}, "h":{rule id: description}} for the entries of this batch
  descriptions   json NOT NULL,
  body           json NOT NULL,
  PRIMARY KEY (batch_id, decided_at)
) PARTITION BY RANGE (decided_at);

-- One narrow row per decision, its id being (batch_id, position).
CREATE TABLE decisions (
  batch_id        text NOT NULL,
  position        integer NOT NULL,
  caller          text,
  outcome         text NOT NULL,
  decided_at      timestamptz NOT NULL,
  application_ref text,
  idempotency_key text,
  input_hash      text,
  PRIMARY KEY (batch_id, position, decided_at)
) PARTITION BY RANGE (decided_at);

-- A unique index of a partitioned table must contain the partition key, so one key per partner across all months
-- needs a table of its own. The unique constraint, not a read before the write, decides a race between replicas.
-- caller is '' for decisions made without keys configured (one scope).
CREATE TABLE idempotency_keys (
  caller          text NOT NULL,
  idempotency_key text NOT NULL,
  batch_id        text NOT NULL,
  position        integer NOT NULL,
  decided_at      timestamptz NOT NULL,
  input_hash      text NOT NULL,
  PRIMARY KEY (caller, idempotency_key)
);
-- retention deletes the keys of the months it drops
CREATE INDEX idempotency_keys_decided_at ON idempotency_keys (decided_at);

-- One row, rewritten by a replica whose writes failed, to learn that the database takes writes again.
CREATE TABLE write_probe (id integer PRIMARY KEY CHECK (id = 1), at timestamptz NOT NULL);
