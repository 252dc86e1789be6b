// Placeholder replaced by the native kernel build; never fails the install.
process.exit(0);
