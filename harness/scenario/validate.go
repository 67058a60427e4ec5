package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// namePattern is what a scenario's name may be: it becomes file and
// metric label names.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// MaxPlaintext is the largest plaintext KMS encrypts (spec section 4).
const MaxPlaintext = 4096

// Validate checks what the types cannot: ranges, references between the
// parts, and that the timeline can happen. It returns every problem, each an
// *Error located in the file (for a parsed scenario), and expects defaults
// to have been applied. It changes nothing.
func (s *Scenario) Validate() []error {
	c := &checker{s: s}
	c.scenario()
	c.stack()
	c.setup()
	c.load()
	c.timeline()
	c.expectations()
	c.aborts()
	return c.errs
}

// checker holds what the checks share: the names the setup defines and
// what the timeline binds and when it runs.
type checker struct {
	s    *Scenario
	errs []error
	// setupNames maps each kind to its names, each to the path defining it.
	setupNames map[nameKind]map[string]string
	// ids maps timeline ids to their entry's index (the first, if
	// duplicated).
	ids map[string]int
	// times is what is known of when each timeline entry starts.
	times []entryTime
	// bindings are the names the timeline's actions make (`as:`).
	bindings []binding
}

// A binding is a name an action makes.
type binding struct {
	kind  nameKind
	name  string
	entry int
}

func (c *checker) errorf(path, format string, args ...any) {
	p := c.s.positions.at(path)
	c.errs = append(c.errs, &Error{File: c.s.File, Line: p.Line, Column: p.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) scenario() {
	s := c.s
	switch {
	case s.Name == "":
		c.errorf("name", "required: the scenario's name (lower-case letters, digits and dashes)")
	case !namePattern.MatchString(s.Name):
		c.errorf("name", "%q: want lower-case letters, digits and dashes, starting with a letter or digit", s.Name)
	}
	switch {
	case s.Timeout <= 0:
		c.errorf("timeout", "%s: want more than 0", s.Timeout)
	case s.Timeout < s.Load.Duration:
		c.errorf("timeout", "%s is shorter than load.duration (%s): the run would stop before the load ends", s.Timeout, s.Load.Duration)
	}
}

func (c *checker) stack() {
	st := c.s.Stack
	switch {
	case st.Clusters < 1:
		c.errorf("stack.clusters", "%d: want at least 1", st.Clusters)
	case st.Clusters < len(c.s.Setup.Clusters):
		c.errorf("stack.clusters", "%d, but setup.clusters names %d: the stack would not have them all", st.Clusters, len(c.s.Setup.Clusters))
	}
	if st.Speed <= 0 {
		c.errorf("stack.speed", "%s: want more than 0 (1 is real time)", fmtFloat(st.Speed))
	}
	if st.ConnectDuration <= 0 {
		c.errorf("stack.connect-duration", "%s: want more than 0", st.ConnectDuration)
	}
}

// setup checks that names are unique within each kind and that stores,
// keys and ciphertexts refer to what the setup defines.
func (c *checker) setup() {
	su := c.s.Setup
	c.setupNames = map[nameKind]map[string]string{}
	define := func(k nameKind, name, path string) bool {
		if name == "" {
			c.errorf(path, "required: the %s's name", k)
			return false
		}
		if c.setupNames[k] == nil {
			c.setupNames[k] = map[string]string{}
		}
		if first, dup := c.setupNames[k][name]; dup {
			c.errorf(path, "%s %q is already defined (%s): names must be unique", k, name, first)
			return false
		}
		c.setupNames[k][name] = path
		return true
	}
	for i, name := range su.Clusters {
		define(kindCluster, name, indexPath("setup.clusters", i))
	}
	// backedBy maps a cluster to the first store it backs.
	backedBy := map[string]int{}
	for i, st := range su.Stores {
		p := indexPath("setup.stores", i)
		define(kindStore, st.Name, p+".name")
		switch {
		case st.Cluster == "":
			c.errorf(p+".cluster", "required: the setup cluster that backs the store")
		case !c.inSetup(kindCluster, st.Cluster):
			c.errorf(p+".cluster", "unknown cluster %q%s", st.Cluster, c.known(kindCluster, st.Cluster, false))
		default:
			if first, used := backedBy[st.Cluster]; used {
				c.errorf(p+".cluster", "cluster %q already backs store %q (setup.stores[%d]): KMS refuses a second store on a cluster with CloudHsmClusterInUseException", st.Cluster, su.Stores[first].Name, first)
			} else {
				backedBy[st.Cluster] = i
			}
		}
	}
	for i, k := range su.Keys {
		p := indexPath("setup.keys", i)
		define(kindKey, k.Name, p+".name")
		if k.Store != "" && !c.inSetup(kindStore, k.Store) {
			c.errorf(p+".store", "unknown store %q%s; leave store out for a software (AWS_KMS) key", k.Store, c.known(kindStore, k.Store, false))
		}
	}
	for i, ct := range su.Ciphertexts {
		p := indexPath("setup.ciphertexts", i)
		switch {
		case ct.Key == "":
			c.errorf(p+".key", "required: the setup key to encrypt under")
		case !c.inSetup(kindKey, ct.Key):
			c.errorf(p+".key", "unknown key %q%s", ct.Key, c.known(kindKey, ct.Key, false))
		}
		if ct.Count < 1 {
			c.errorf(p+".count", "%d: want at least 1", ct.Count)
		}
		if ct.Size < 1 || ct.Size > MaxPlaintext {
			c.errorf(p+".size", "%d: want 1 to %d bytes", ct.Size, MaxPlaintext)
		}
	}
}

func (c *checker) inSetup(k nameKind, name string) bool {
	_, ok := c.setupNames[k][name]
	return ok
}

// known lists the names of kind k a reference could have meant, for an
// "unknown" message: " (defined: a, b; did you mean a?)". With timeline,
// names the timeline binds count too.
func (c *checker) known(k nameKind, name string, timeline bool) string {
	var names []string
	for n := range c.setupNames[k] {
		names = append(names, n)
	}
	if timeline {
		for _, b := range c.bindings {
			if (b.kind == k || b.kind == kindAny) && !slices.Contains(names, b.name) {
				names = append(names, b.name)
			}
		}
	}
	if len(names) == 0 {
		if k == kindBackup {
			return ": no backup is made by the timeline (an action's as: names one)"
		}
		return fmt.Sprintf(": no %s is defined (add it to setup.%ss)", k, k)
	}
	sort.Strings(names)
	hint := ""
	if s := suggest(name, names); s != "" {
		hint = "; did you mean " + s + "?"
	}
	return fmt.Sprintf(" (defined: %s%s)", strings.Join(names, ", "), hint)
}

// fmtFloat writes a float the shortest way: 0.5, 100, 1e-06.
func fmtFloat(f float64) string {
	return fmt.Sprint(f)
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
