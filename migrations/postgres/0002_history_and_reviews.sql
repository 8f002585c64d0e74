-- The history and the reviews (the same as the SQLite trail's version 2, src/decisions/audit/sqlite-schema.ts).

-- A decision's own model version when it is not its batch's (a hot swap split the batch); null: the batch's.
ALTER TABLE decisions ADD COLUMN model_version text;

-- The history, newest first, for keyset pagination: all decisions, one partner's, one application reference's.
CREATE INDEX decisions_by_time ON decisions (decided_at, batch_id, position);
CREATE INDEX decisions_by_caller ON decisions (caller, decided_at, batch_id, position);
CREATE INDEX decisions_by_ref ON decisions (application_ref, decided_at, batch_id, position) WHERE application_ref IS NOT NULL;

-- A person's review of a REFER: one per decision (the primary key decides between replicas), beside the model's
-- decision, which is never edited; partitioned like the decisions, so retention drops a month's reviews with them.
CREATE TABLE reviews (
  batch_id     text NOT NULL,
  position     integer NOT NULL,
  decided_at   timestamptz NOT NULL,
  outcome      text NOT NULL,
  reason_codes json NOT NULL,
  note         text,
  reviewer     text NOT NULL,
  reviewed_at  timestamptz NOT NULL,
  PRIMARY KEY (batch_id, position, decided_at)
) PARTITION BY RANGE (decided_at);

-- Append-only: a review, once recorded, is never updated.
CREATE FUNCTION reviews_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'reviews are append-only';
END
$$;
CREATE TRIGGER reviews_append_only BEFORE UPDATE ON reviews FOR EACH ROW EXECUTE FUNCTION reviews_append_only();
