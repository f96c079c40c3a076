//! corrupt command
