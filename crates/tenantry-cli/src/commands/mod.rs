pub mod admins;
pub mod doctor;
pub mod master;
pub mod serve;
pub mod servers;
