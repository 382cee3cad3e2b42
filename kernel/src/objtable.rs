//! A table of kernel objects named by generation-checked ids: the kernel's
//! name for [`kerncore::objtable`], where it is tested on the host.

pub use kerncore::objtable::ObjectTable;
