-- The shared seed data a ready spare already holds (the chart of accounts), named by its
-- fingerprint: a spare is claimed only by a build whose chart has the same one, and rebuilt
-- otherwise. NULL: no seed data (a spare built before this column, rebuilt by the next refill).
ALTER TABLE spares ADD COLUMN seed TEXT;
