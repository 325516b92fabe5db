package difftest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// linkScript lays a test guest out as a multiboot ELF32 kernel at 1 MiB:
// the header first in .text, data on the next page.
const linkScript = `OUTPUT_FORMAT("elf32-i386")
ENTRY(_start)
SECTIONS {
	. = 0x100000;
	.text : { KEEP(*(.multiboot)) *(.text .text.*) }
	.rodata : { *(.rodata .rodata.*) }
	. = ALIGN(0x1000);
	.data : { *(.data .data.*) }
	.bss : { *(.bss .bss.*) *(COMMON) }
	/DISCARD/ : { *(.note .note.*) *(.comment) *(.eh_frame) }
}
`

// ToolsAvailable reports whether GNU as and ld are on PATH (the Debian
// package binutils), naming what is missing.
func ToolsAvailable() error {
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("GNU %s not found on PATH (Debian package binutils; `make test` installs it)", tool)
		}
	}
	return nil
}

// Assemble builds GNU as source (AT&T syntax, 32-bit) into a multiboot
// ELF32 image. includeDir, if not empty, is searched by .include.
func Assemble(src, includeDir string) ([]byte, error) {
	if err := ToolsAvailable(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "virtsim-difftest-")
	if err != nil {
		return nil, fmt.Errorf("difftest: %w", err)
	}
	defer os.RemoveAll(dir)
	files := map[string]string{"g.S": src, "link.ld": linkScript}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("difftest: %w", err)
		}
	}
	asArgs := []string{"--32", "-o", filepath.Join(dir, "g.o")}
	if includeDir != "" {
		asArgs = append(asArgs, "-I", includeDir)
	}
	asArgs = append(asArgs, filepath.Join(dir, "g.S"))
	for _, c := range [][]string{
		append([]string{"as"}, asArgs...),
		{"ld", "-m", "elf_i386", "-T", filepath.Join(dir, "link.ld"), "-o", filepath.Join(dir, "g.elf"), filepath.Join(dir, "g.o")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("difftest: %s: %v\n%s", c[0], err, strings.TrimSpace(string(out)))
		}
	}
	elf, err := os.ReadFile(filepath.Join(dir, "g.elf"))
	if err != nil {
		return nil, fmt.Errorf("difftest: %w", err)
	}
	return elf, nil
}
