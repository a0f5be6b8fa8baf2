//! A capture step's lifecycle as a rust-fsm machine: awaiting → processing → retake | done.
