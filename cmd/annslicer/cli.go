package main

import (
	"fmt"
	"regexp"
	rtdebug "runtime/debug"

	"github.com/spf13/cobra"
)

// What the command line says about itself: --version, shell completion of
// flag values, and flag errors in the words of this tool.

// version is set at release builds with -ldflags "-X main.version=...".
var version = "0.4.0-dev"

// versionString adds the commit a development build was made from.
func versionString() string {
	v := version
	if bi, ok := rtdebug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+changes"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " (commit " + rev + dirty + ")"
		}
	}
	return v
}

// flagValues are the values completed for flags that take one of a few.
var flagValues = map[string][]string{
	"format":       {"h5ad", "zarr"},
	"join":         {"outer", "inner"},
	"compression":  {"gzip", "lzf", "blosc", "zstd", "zlib", "none"},
	"zarr-version": {"2", "3"},
}

// completeFlagValues registers flagValues on every command having them.
func completeFlagValues(c *cobra.Command) {
	for name, vals := range flagValues {
		if c.Flags().Lookup(name) != nil {
			vals := vals
			c.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return vals, cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	for _, sub := range c.Commands() {
		completeFlagValues(sub)
	}
}

// pflag says `invalid argument "abc" for "--size" flag: strconv.ParseInt:
// parsing "abc": invalid syntax`; users need the flag, the value and what
// it should be.
var badValue = regexp.MustCompile(`^invalid argument "(.*)" for "(.*?)" flag: (.*)$`)

func flagError(c *cobra.Command, err error) error {
	m := badValue.FindStringSubmatch(err.Error())
	if m == nil {
		return usageError{err}
	}
	flag := m[2]
	want := "a valid value"
	if f := c.Flags().Lookup(trimDashes(flag)); f != nil {
		switch f.Value.Type() {
		case "int64", "int":
			want = "a whole number"
		case "uint64", "uint":
			want = "a whole number, 0 or more"
		case "bool":
			want = "true or false"
		}
	}
	return usageError{fmt.Errorf("%s: %q is not %s", flag, m[1], want)}
}

func trimDashes(s string) string {
	for len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	return s
}

// plural is "1 argument", "2 arguments".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
