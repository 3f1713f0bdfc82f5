#include "textflag.h"

// func spinHint(n uint32)
// Executes PAUSE n times: tells the core it is in a spin-wait loop, which
// saves power, yields pipeline resources to a hyperthread sibling and slows
// the polling of a cache line another core is writing.
TEXT ·spinHint(SB),NOSPLIT,$0-4
	MOVL	n+0(FP), AX
	TESTL	AX, AX
	JZ	done
loop:
	PAUSE
	SUBL	$1, AX
	JNZ	loop
done:
	RET
