pub mod admins;
pub mod doctor;
pub mod master;
pub mod reconcile;
pub mod serve;
pub mod servers;
pub mod tenants;
