-- A batch's body (one JSON array, ~550 bytes a decision) is compressed when PostgreSQL stores it (TOAST, above ~2 KB).
-- With the default, pglz, that compression was about 6 of the ~10 µs of server CPU a decision costs in batches of
-- 100 (BENCHMARKS.md, section 7); lz4 stores it in about the same space at a small part of that CPU. Existing rows
-- keep their compression; a server built without lz4 keeps pglz.
DO $$
BEGIN
  ALTER TABLE decision_batches ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'this PostgreSQL has no lz4: batch bodies stay compressed with pglz';
END $$;
