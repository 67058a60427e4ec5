package main

import (
	"errors"
	"flag"
)

// parseArgs parses fs's flags wherever they are among args, so that
// `keystorm report r.json --format html` works as it reads; after "--",
// every argument is an operand. It returns the operands, or done and the
// exit code when parsing ends the command (-h, a bad flag).
func parseArgs(fs *flag.FlagSet, args []string) (operands []string, code int, done bool) {
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, true
			}
			return nil, exitUsage, true
		}
		left := fs.Args()
		if len(left) == 0 {
			return operands, 0, false
		}
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			return append(operands, left...), 0, false
		}
		operands = append(operands, left[0])
		rest = left[1:]
	}
}
