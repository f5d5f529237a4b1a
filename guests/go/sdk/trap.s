// trap(): Go's assembler spells wasm's `unreachable` UNDEF (an undefined
// instruction on every architecture, so the package also compiles for
// tools that load it for the host).

#include "textflag.h"

TEXT ·trap(SB), NOSPLIT, $0-0
	UNDEF
