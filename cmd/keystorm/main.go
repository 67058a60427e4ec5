// Command keystorm is the chaos and load testing harness for HSM-backed key
// stores. See usage for its subcommands and exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Exit codes, shared by every subcommand.
const (
	exitOK     = 0 // the run passed
	exitFailed = 1 // the run finished but did not pass
	exitUsage  = 2 // bad input, or the system under test could not be set up
)

// command is one subcommand: it parses its own flags from args and returns
// the exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"run", "run scenarios: stack, load, faults, checks, reports; exit 0 pass, 1 fail, 2 invalid", runRun},
	{"validate", "check scenario files without running them", runValidate},
	{"faults", "list the faults and recovery steps a timeline can name", runFaults},
	{"report", "re-render the reports of a finished run from its result.json", runReport},
	{"compare", "compare two runs' result.json: throughput, latency, errors, expectations; exit 1 past tolerances", runCompare},
	{"capacity", "drive paced encrypt/decrypt load through the PKCS#11 session pool and measure it", runCapacity},
	{"serve", "start the embedded key-store stack alone (KMS, CloudHSM v2, admin API, metrics)", runServe},
	{"clean", "remove the containers, networks and volumes a containers stack left behind", runClean},
	{"cloudhsm-cli", "the CloudHSM CLI's user and key actions (login, user change-password, key delete...) on a stack", runCloudHSMCLI},
}

func main() {
	// testcontainers-go's own log lines (a banner per Docker connection)
	// would interleave with keystorm's output.
	tclog.SetDefault(tclog.NewNoopLogger())
	// SIGINT/SIGTERM cancel the context: a run stops scheduling, cancels its
	// work in flight, and still reports. Once cancelled, the signals get
	// their default action back, so a second ^C stops a stuck clean-up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to the subcommand named by args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
	default:
		fmt.Fprintf(stderr, "keystorm: unknown command %q\n\n", args[0])
	}
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "keystorm: chaos and load testing for HSM-backed key stores\n\n")
	fmt.Fprintf(w, "Usage:\n  keystorm <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-13s %s\n", "help", "print this help")
	fmt.Fprintf(w, "\nRun 'keystorm <command> -h' for the flags of a command.\n")
	fmt.Fprintf(w, "\nExit codes: %d passed; %d the run finished but did not pass; %d bad input or the\nsystem under test could not be set up (also for 'keystorm help').\n",
		exitOK, exitFailed, exitUsage)
}
