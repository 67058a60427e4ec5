package main

import (
	"errors"
	"flag"
	"fmt"
)

// parseArgs parses fs's flags wherever they are among args, so that
// `keystorm report r.json --format html` works as it reads; after "--",
// every argument is an operand. It returns the operands, or done and the
// exit code when parsing ends the command (-h, a bad flag).
func parseArgs(fs *flag.FlagSet, args []string) (operands []string, code int, done bool) {
	for rest := args; ; {
		if code, done := parseFlags(fs, rest); done {
			return nil, code, true
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

// parseFlags parses fs's flags at the start of args. done says the command
// ends there, with code: 0 after -h (fs printed the usage), 2 on a bad
// flag (fs said what and printed the usage).
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	return exitOK, false
}

// parseFlagsOnly is parseFlags for a command that takes no operands: a
// stray argument ends it with 2 and a message naming it.
func parseFlagsOnly(fs *flag.FlagSet, args []string) (code int, done bool) {
	if code, done := parseFlags(fs, args); done {
		return code, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, true
	}
	return exitOK, false
}
