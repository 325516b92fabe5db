package main

// Every strategy registers itself with vmm when its package is linked in.
import (
	_ "virtsim/hwassist"
	_ "virtsim/hypercall"
	_ "virtsim/translate"
	_ "virtsim/trap"
)
