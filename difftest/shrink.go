package difftest

// Shrink reduces d's stream to a minimal one that still diverges between
// the same two runners in the same first field: delta debugging over its
// instructions (drop halves, quarters, ..., single instructions while the
// divergence stays). It returns the number of candidate runs made.
func Shrink(d *Divergence) (int, error) {
	field := d.Field()
	cur := d.Stream
	runs := 0
	still := func(c Stream) bool {
		runs++
		elf, err := Assemble(Render([]Stream{c}), "")
		if err != nil {
			return false // dropped a label a jump needs: not a candidate
		}
		a, err := Run(d.Ref, elf)
		if err != nil {
			return false
		}
		b, err := Run(d.Got, elf)
		if err != nil {
			return false
		}
		ra, rb := reports(a, 1)[0], reports(b, 1)[0]
		return ra != rb && firstField(ra, rb) == field
	}
	for chunk := len(cur.Insns) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i+chunk <= len(cur.Insns); {
			c := cur
			c.Insns = append(append([]string{}, cur.Insns[:i]...), cur.Insns[i+chunk:]...)
			if still(c) {
				cur = c
				continue
			}
			i += chunk
		}
	}
	d.Shrunk = &cur
	d.Known = Classify(*d)
	if d.Known != nil {
		// The reproducer has a documented instruction, but does the rule
		// explain it? Without that instruction it must agree.
		s := cur
		s.Insns = nil
		for _, in := range cur.Insns {
			if !d.Known.Insn.MatchString(in) {
				s.Insns = append(s.Insns, in)
			}
		}
		runs++
		elf, err := Assemble(Render([]Stream{s}), "")
		if err != nil {
			d.Known = nil
			return runs, nil
		}
		a, err := Run(d.Ref, elf)
		if err != nil {
			return runs, err
		}
		b, err := Run(d.Got, elf)
		if err != nil {
			return runs, err
		}
		if reports(a, 1)[0] != reports(b, 1)[0] {
			d.Known = nil
		}
	}
	return runs, nil
}
