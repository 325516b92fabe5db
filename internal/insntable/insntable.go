// Package insntable reads the instruction tables the strategies keep as
// test data (trap/testdata/classes.txt, translate/testdata/kinds.txt), in
// the spirit of x86asm's testdata/decode.txt: one instruction a line,
// tab-separated, the machine code in hex first and its AT&T text second;
// the remaining fields are the table's own. Blank lines and lines starting
// with # are comments.
package insntable

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Row is one instruction of a table.
type Row struct {
	Line   int      // line number in the file
	Code   []byte   // the instruction's bytes
	Text   string   // its AT&T text
	Fields []string // the fields after the text
}

// Field returns field i after the text, with "-" read as empty.
func (r Row) Field(i int) string {
	if i >= len(r.Fields) || r.Fields[i] == "-" {
		return ""
	}
	return r.Fields[i]
}

// Read reads a table whose lines have between minFields and maxFields
// fields in all (code and text included).
func Read(path string, minFields, maxFields int) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("insntable: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	var rows []Row
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) < minFields || len(fields) > maxFields {
			return nil, fmt.Errorf("%s:%d: want %d to %d tab-separated fields, got %d: %q", name, n, minFields, maxFields, len(fields), line)
		}
		code, err := hex.DecodeString(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad hex %q: %v", name, n, fields[0], err)
		}
		rows = append(rows, Row{Line: n, Code: code, Text: fields[1], Fields: fields[2:]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows, nil
}
