package main

import (
	"fmt"
	"io"
	"net"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"virtsim/migrate"
	"virtsim/vmm"
)

// cmdMigrate is live migration between two virtsim processes:
//
//	virtsim migrate --listen 127.0.0.1:7000 [--strategy S]          (destination)
//	virtsim migrate --to 127.0.0.1:7000 --guest X [--strategy S] [--at N]   (source)
func cmdMigrate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("migrate", "--listen ADDR [--strategy S] | --to ADDR --guest NAME [--strategy S] [--at N] [flags]", stdout, stderr)
	listen := fs.String("listen", "", "destination: accept one migration on this address (e.g. 127.0.0.1:7000) and continue the VM")
	to := fs.String("to", "", "source: run the guest and migrate it live to this address")
	guestName := fs.String("guest", "", "source: workload from the catalogue")
	gargs := argsVar(fs, "source: guest command line (default: the workload's own)")
	strategy := fs.String("strategy", "", "the strategy to run under (source default native; destination default: the source's)")
	at := fs.Uint64("at", 10000, "source: start migrating after this many guest instructions")
	round := fs.Uint64("round", 20000, "source: guest instructions the VM runs per pre-copy round")
	rounds := fs.Int("rounds", 8, "source: pre-copy rounds at most")
	stopPages := fs.Int("stop-pages", 8, "source: stop and copy once a round dirties at most this many pages (negative: after --rounds)")
	plotPath := fs.String("plot", "", "source: draw the pages sent per round into this file (.png or .svg)")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	switch {
	case (*listen == "") == (*to == ""):
		fmt.Fprintln(stderr, "virtsim migrate: give --listen ADDR (destination) or --to ADDR (source)")
		return exitUsage
	case *listen != "":
		return migrateReceive(*listen, *strategy, stdout, stderr)
	}
	name := *strategy
	if name == "" {
		name = "native"
	}
	s, err := vmm.LookupStrategy(name)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return exitUsage
	}
	t, st, err := loadTarget(*guestName, "", "", *gargs, vmm.DefaultMemSize, s.PV)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return st
	}
	cfg := vmm.Config{Name: t.name, Args: t.args, Count: true, Serial: func(b byte) { stdout.Write([]byte{b}) }}
	inst, err := s.New(t.img, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return exitInternal
	}
	defer inst.Close()
	if _, err := migrate.SaveAt(inst, *at); err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return exitInternal
	}
	local := func(why error) int {
		// The migration failed: the VM is still here, paused; it runs on.
		fmt.Fprintf(stderr, "virtsim migrate: %v: the VM keeps running here\n", why)
		if _, err := inst.Run(); err != nil {
			fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
			return exitInternal
		}
		res := inst.Result()
		fmt.Fprint(stderr, res.Summary())
		return stopStatus(res.Stop)
	}
	if inst.Result().Stop.Kind != vmm.StopNone {
		return local(fmt.Errorf("the guest ended before instruction %d", *at))
	}
	conn, err := net.DialTimeout("tcp", *to, 5*time.Second)
	if err != nil {
		return local(err)
	}
	defer conn.Close()
	rep, err := migrate.SendLive(inst, migrate.HelloFor(inst, t.img, s.PV), conn, conn, migrate.LiveOptions{Round: *round, MaxRounds: *rounds, StopPages: *stopPages})
	if err != nil {
		return local(err)
	}
	if rep.Stopped {
		return local(fmt.Errorf("the guest ended during pre-copy"))
	}
	fmt.Fprintf(stderr, "virtsim migrate: %s under %s moved to %s\n", t.name, s.Name, *to)
	printLive(stderr, rep, true)
	if *plotPath != "" {
		title := fmt.Sprintf("live migration of %s (%s): pre-copy rounds of %d instructions", t.name, s.Name, *round)
		if err := plotLive(*plotPath, rep, title); err != nil {
			fmt.Fprintf(stderr, "virtsim migrate: --plot: %v\n", err)
			return exitInternal
		}
	}
	return exitOK
}

func migrateReceive(addr, strategy string, stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return exitUnavailable
	}
	defer ln.Close()
	conn, err := ln.Accept()
	if err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return exitInternal
	}
	defer conn.Close()
	d := &migrate.Destination{Strategy: strategy, Config: vmm.Config{Serial: func(b byte) { stdout.Write([]byte{b}) }}}
	inst, st, rep, err := d.Receive(conn)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return exitInternal
	}
	defer inst.Close()
	stdout.Write(st.Serial) // what the guest printed before the move
	if _, err := inst.Run(); err != nil {
		fmt.Fprintf(stderr, "virtsim migrate: %v\n", err)
		return exitInternal
	}
	res := inst.Result()
	fmt.Fprint(stderr, res.Summary())
	printLive(stderr, rep, false)
	return stopStatus(res.Stop)
}

// printLive prints the rounds: pages per round, then the stop-and-copy.
func printLive(w io.Writer, rep *migrate.LiveReport, source bool) {
	fmt.Fprintln(w, "  live migration: round  pages")
	for _, r := range rep.Rounds {
		fmt.Fprintf(w, "                  %5d  %5d\n", r.Round, r.Pages)
	}
	fmt.Fprintf(w, "  stop-and-copy at instruction %d: %d pages", rep.StopAt, rep.FinalPages)
	if source {
		fmt.Fprintf(w, "; downtime %s (stop to the destination's resume)", rep.Downtime.Round(time.Microsecond))
	}
	fmt.Fprintln(w)
}

// plotLive draws pages sent per pre-copy round and at stop-and-copy
// (PNG or SVG by the file's extension).
func plotLive(path string, rep *migrate.LiveReport, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "round"
	p.Y.Label.Text = "pages sent (4 KiB)"
	var vals plotter.Values
	var labels []string
	for _, r := range rep.Rounds {
		vals = append(vals, float64(r.Pages))
		labels = append(labels, fmt.Sprint(r.Round))
	}
	vals = append(vals, float64(rep.FinalPages))
	labels = append(labels, "stop&copy")
	bc, err := plotter.NewBarChart(vals, vg.Points(18))
	if err != nil {
		return err
	}
	p.Add(bc)
	p.NominalX(labels...)
	return p.Save(5*vg.Inch, 3*vg.Inch, path)
}
