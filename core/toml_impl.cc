// The one translation unit that compiles toml++'s implementation; everything else sees
// its declarations only (TOML_HEADER_ONLY=0), which keeps builds fast.
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
