// Package labs holds virtsim's guided labs and checks a student's answers
// against real runs.
//
// A lab is a text file (labs/*.md, embedded in the binary; more can be
// loaded from a directory with `virtsim lab --dir D`), so a teacher adds
// one without touching Go code. Its format is line-oriented Markdown:
//
//	# The Popek–Goldberg hole              the title (first line)
//	Any text: shown as it is.
//	$ virtsim run --guest pgprobe ...      a step: a command the student runs
//	                                       (virtsim lab N --step K runs it)
//	? cli-if: What does pgprobe print ...  a question, with an id
//	= serial trap pgprobe n=1 /cli-if=(\d+)/   how to compute its answer
//
// The "=" line is the point of a lab: the answer is never stored, it is
// computed by running the simulator — the same image, strategy and
// configuration the student ran — so a check fails if the student misread
// the screen, and a lab stays right when a strategy changes. Answer kinds
// (see kinds.go): serial (a regexp group of the guest's output), count
// and mech (the events of a cause), exits, per-iter (the exits or events
// one more loop iteration costs, from two runs), counter (a strategy's
// counter, e.g. bt/lookup-hits), top (the largest counter under a prefix,
// e.g. the most executed sensitive instruction under --audit),
// exit-causes (the causes that still exit), and translation (what bt made
// of a guest instruction).
//
// An answer is compared after normalizing case and spaces; numbers compare
// as numbers, lists (a,b,c) as sets, and a counter's name may be given
// without its family (pushf for sens/pushf). A question whose strategy cannot run
// on this machine (no /dev/kvm) is reported as not checkable here, with the
// reason, never as right or wrong.
package labs
