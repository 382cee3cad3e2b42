//! Memory quotas: how many frames a process (or a group of them) may use.
//!
//! The accounting (charge, credit, carve, references, rights ceilings) is
//! [`kerncore::quota`], tested on the host; here the quota table is seen by
//! the address spaces as what they charge their frames to.

pub use kerncore::quota::Quotas;

use caps::ObjectId;
use caps::abi::Error;

use crate::mem::aspace::Charge;

impl Charge for Quotas {
    fn charge(&mut self, quota: ObjectId) -> Result<(), Error> {
        self.charge_frame(quota)
    }

    fn credit(&mut self, quota: ObjectId) {
        self.credit_frame(quota);
    }
}
