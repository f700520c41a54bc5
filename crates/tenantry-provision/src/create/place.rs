//! Where a new tenant's database goes.

use tenantry_core::ServerName;
use tenantry_registry::{Server, ServerState};

use crate::{ProvisionError, Provisioner};

impl Provisioner {
    /// Chooses where a new tenant's database goes: `requested`, else the active server with the
    /// most free capacity (by share), else (none registered) SQLite.
    pub async fn place(
        &self,
        requested: Option<&ServerName>,
    ) -> Result<Option<Server>, ProvisionError> {
        if let Some(name) = requested {
            let server = self.registry.server_by_name(name).await?;
            if server.state != ServerState::Active {
                return Err(ProvisionError::NoCapacity {
                    server: name.to_string(),
                    reason: format!("it is {:?}", server.state).to_lowercase(),
                });
            }
            let used = self.registry.count_tenants_on_server(server.id).await?;
            if used >= u64::try_from(server.capacity).unwrap_or(0) {
                return Err(ProvisionError::NoCapacity {
                    server: name.to_string(),
                    reason: format!("it holds {used} of {} tenants", server.capacity),
                });
            }
            return Ok(Some(server));
        }
        let servers = self.registry.list_servers().await?;
        let registered = !servers.is_empty();
        let mut best: Option<(f64, Server)> = None;
        for server in servers {
            if server.state != ServerState::Active {
                continue;
            }
            let used = self.registry.count_tenants_on_server(server.id).await? as f64;
            let load = used / f64::from(server.capacity.max(1));
            if load < 1.0 && best.as_ref().is_none_or(|(l, _)| load < *l) {
                best = Some((load, server));
            }
        }
        match best {
            Some((_, server)) => Ok(Some(server)),
            None if !registered => Ok(None),
            None => Err(ProvisionError::NoCapacity {
                server: "any".into(),
                reason: "every registered server is full or draining".into(),
            }),
        }
    }
}
