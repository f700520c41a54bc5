-- At most one running operation per tenant: suspend, reactivate and delete of one tenant (from
-- any process) exclude each other instead of interleaving. Operations left running by an older
-- release are first reduced to the newest one per tenant (the others could not all be live).
UPDATE operations
SET state = 'failed',
    error = 'closed by master migration V2: a newer operation on this tenant was running',
    finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE state = 'running'
  AND tenant_id IS NOT NULL
  AND EXISTS (
      SELECT 1 FROM operations AS n
      WHERE n.tenant_id = operations.tenant_id
        AND n.state = 'running'
        AND (n.created_at > operations.created_at
             OR (n.created_at = operations.created_at AND n.id > operations.id))
  );

CREATE UNIQUE INDEX operations_one_running_per_tenant
    ON operations (tenant_id)
    WHERE state = 'running' AND tenant_id IS NOT NULL;
