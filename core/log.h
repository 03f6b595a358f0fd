#pragma once

namespace petrel {

// All logging goes to stderr (the guest console owns stdout) as "petrel: level: message".
// verbosity 0 shows warnings and errors, 1 adds info, 2 or more adds debug.
void init_logging(int verbosity);

// Milliseconds since the first call, which main() makes first thing: for start-up
// timing lines that benchmarks read ("first KVM_RUN after N ms").
double elapsed_since_start_ms();

}  // namespace petrel
