package insntable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.txt", "# comment\n\nfa\tcli\tprivileged\tpriv/cli\n0fa2\tcpuid\tinnocuous\t-\n")
	rows, err := Read(good, 4, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Line != 3 || rows[0].Code[0] != 0xFA || rows[0].Text != "cli" ||
		rows[0].Field(1) != "priv/cli" || rows[1].Field(1) != "" || rows[1].Field(7) != "" {
		t.Errorf("rows %+v", rows)
	}
	for name, text := range map[string]string{
		"fields.txt": "fa\tcli\n",
		"hex.txt":    "zz\tcli\tprivileged\tpriv/cli\n",
	} {
		if _, err := Read(write(name, text), 4, 5); err == nil || !strings.Contains(err.Error(), name+":1") {
			t.Errorf("%s: err %v, want one naming the file and line", name, err)
		}
	}
}
