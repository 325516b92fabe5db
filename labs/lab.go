package labs

import (
	"bufio"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed *.md
var builtin embed.FS

// Lab is one guided lab.
type Lab struct {
	Name  string // the file name without .md and its order prefix
	File  string
	Title string
	// Parts are the lab's text, steps and questions in file order.
	Parts     []Part
	Steps     []*Step
	Questions []*Question
}

// Part is one piece of a lab as the student reads it.
type Part struct {
	Text     string    // a line of prose ("" for a blank line)
	Step     *Step     // or a step
	Question *Question // or a question
}

// Step is a command the student runs.
type Step struct {
	N    int      // 1-based
	Line int      // in the file
	Args []string // the command line after "virtsim"
}

// Command is the step as the student types it.
func (s Step) Command() string { return "virtsim " + strings.Join(quoteAll(s.Args), " ") }

// Question asks for something the student reads off virtsim.
type Question struct {
	ID, Text string
	Line     int
	Spec     Spec // how its answer is computed
}

// All returns the built-in labs, then those in dir (if not ""), in order.
func All(dir string) ([]*Lab, error) {
	labs, err := load(builtin, ".")
	if err != nil {
		return nil, err
	}
	if dir != "" {
		more, err := load(os.DirFS(dir), ".")
		if err != nil {
			return nil, fmt.Errorf("labs in %s: %w", dir, err)
		}
		labs = append(labs, more...)
	}
	return labs, nil
}

func load(fsys fs.FS, dir string) ([]*Lab, error) {
	names, err := fs.Glob(fsys, filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*Lab
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		l, err := Parse(filepath.Base(n), string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Find picks a lab by number (1-based, in All's order) or name.
func Find(labs []*Lab, key string) (*Lab, int, error) {
	for i, l := range labs {
		if key == fmt.Sprint(i+1) || key == l.Name {
			return l, i + 1, nil
		}
	}
	var names []string
	for i, l := range labs {
		names = append(names, fmt.Sprintf("%d %s", i+1, l.Name))
	}
	return nil, 0, fmt.Errorf("no lab %q (labs: %s)", key, strings.Join(names, ", "))
}

// Parse reads a lab file.
func Parse(file, text string) (*Lab, error) {
	name := strings.TrimSuffix(file, ".md")
	if i := strings.IndexByte(name, '-'); i > 0 && strings.Trim(name[:i], "0123456789") == "" {
		name = name[i+1:] // "01-popek-goldberg" -> "popek-goldberg"
	}
	l := &Lab{Name: name, File: file}
	bad := func(line int, f string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(f, a...))
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	var open *Question // a question waiting for its "=" line
	ids := map[string]bool{}
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case n == 1:
			t, ok := strings.CutPrefix(line, "# ")
			if !ok {
				return nil, bad(n, "a lab starts with its title: \"# Title\"")
			}
			l.Title = strings.TrimSpace(t)
		case strings.HasPrefix(line, "$ "):
			f := strings.Fields(strings.TrimPrefix(line, "$ "))
			if len(f) < 2 || f[0] != "virtsim" {
				return nil, bad(n, "a step is \"$ virtsim COMMAND ...\"")
			}
			args, err := splitArgs(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "$ ")), "virtsim")))
			if err != nil {
				return nil, bad(n, "%v", err)
			}
			s := &Step{N: len(l.Steps) + 1, Line: n, Args: args}
			l.Steps = append(l.Steps, s)
			l.Parts = append(l.Parts, Part{Step: s})
		case strings.HasPrefix(line, "? "):
			if open != nil {
				return nil, bad(open.Line, "question %s has no \"= ...\" line saying how its answer is computed", open.ID)
			}
			id, q, ok := strings.Cut(strings.TrimPrefix(line, "? "), ":")
			id = strings.TrimSpace(id)
			if !ok || id == "" || strings.ContainsAny(id, " \t") {
				return nil, bad(n, "a question is \"? ID: text\" (ID one word)")
			}
			if ids[id] {
				return nil, bad(n, "question id %s used twice", id)
			}
			ids[id] = true
			open = &Question{ID: id, Text: strings.TrimSpace(q), Line: n}
		case strings.HasPrefix(line, "= "):
			if open == nil {
				return nil, bad(n, "an answer line \"= ...\" must follow a question")
			}
			spec, err := ParseSpec(strings.TrimPrefix(line, "= "))
			if err != nil {
				return nil, bad(n, "%v", err)
			}
			open.Spec = spec
			l.Questions = append(l.Questions, open)
			l.Parts = append(l.Parts, Part{Question: open})
			open = nil
		default:
			if open != nil {
				// the question's text goes on
				open.Text += " " + strings.TrimSpace(line)
				continue
			}
			l.Parts = append(l.Parts, Part{Text: line})
		}
	}
	if open != nil {
		return nil, bad(open.Line, "question %s has no \"= ...\" line saying how its answer is computed", open.ID)
	}
	if l.Title == "" {
		return nil, bad(1, "empty lab")
	}
	return l, nil
}

// splitArgs splits a command line at spaces, keeping "quoted words".
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, has := false, false
	for _, r := range s {
		switch {
		case r == '"':
			in, has = !in, true
		case (r == ' ' || r == '\t') && !in:
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if in {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if has {
		out = append(out, cur.String())
	}
	return out, nil
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t") {
			a = `"` + a + `"`
		}
		out[i] = a
	}
	return out
}
