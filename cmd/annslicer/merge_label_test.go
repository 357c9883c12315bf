package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// anndata.concat's label, keys and index_unique (merge --label, --keys,
// --index-unique): merge_obs.py's three inputs, made with different genes
// and a "batch" column in the first and the last (which the label
// replaces: in place where the join keeps it, else after every other
// column), merged and compared element by element with
// anndata.concat(inputs, join=..., label=..., keys=..., index_unique=...)
// as anndata writes it. The differences from concat are merge_obs's own
// (obsNotes): the label adds none.

// labelOutputs are the outputs each labelled merge is written to.
var labelOutputs = []struct {
	ext  string
	args []string
}{
	{".h5ad", nil},
	{".zarr", nil},
	{".zarr", []string{"--zarr-version", "3"}},
}

func TestMergeLabelKeysIndexUniqueLikeAnndataConcat(t *testing.T) {
	needPython(t)
	needCurrent(t)
	dir := t.TempDir()
	inputs := makeObsInputs(t, dir, []string{"h5ad", "zarr", "h5ad"}, "--collection")
	flags := []string{"--label", "batch", "--keys", "a,b,c", "--index-unique", "-"}
	for _, join := range []string{"outer", "inner"} {
		for k, o := range labelOutputs {
			merged := filepath.Join(dir, "merged_"+join+string(rune('0'+k))+o.ext)
			args := append(append(append([]string{"--join", join, merged}, inputs...), flags...), o.args...)
			r := mustMerge(t, args...)
			// with --join inner the inputs' batch column is not in every
			// input, but the label replaces it: nothing is left out
			if strings.Contains(r.stderr, "obs/batch") {
				t.Errorf("%s: a warning about the label's column: %s", merged, r.stderr)
			}
			if got, want := obsCheck(t, join, merged, inputs, flags...), obsNotes[join]; !slices.Equal(got, want) {
				t.Errorf("%s: differences from anndata.concat\n got: %q\nwant: %q", merged, got, want)
			}
			if o.ext == ".h5ad" { // Debian's anndata 0.8 reads it as current anndata does
				if old, cur := obsDump(t, python, merged), obsDump(t, currentPython, merged); old != cur {
					t.Errorf("%s: anndata 0.8 reads obs otherwise\n0.8: %s\ncur: %s", merged, old, cur)
				}
			}
		}
	}
}

// Without --keys the keys are the inputs' file names without .h5ad or
// .zarr (anndata.concat's are "0", "1", ...); --label and --index-unique
// each work alone.
func TestMergeLabelDefaultKeysAreFileStems(t *testing.T) {
	needCurrent(t)
	dir := t.TempDir()
	inputs := makeObsInputs(t, dir, []string{"zarr", "h5ad", "zarr"}, "--collection")
	inputs[2] += "/" // a store given with a trailing slash keeps its name
	for k, c := range []struct {
		join         string
		flags, check []string
		note         string // beside obsNotes
	}{
		{"outer", []string{"--label", "batch", "--index-unique", "_"}, []string{"--label", "batch", "--keys", "p0,p1,p2", "--index-unique", "_"}, ""},
		{"inner", []string{"--label", "src"}, []string{"--label", "src", "--keys", "p0,p1,p2"}, ""},
		// no label: the inputs' batch column is merged as any other
		{"outer", []string{"--index-unique", ""}, []string{"--keys", "p0,p1,p2", "--index-unique", ""},
			"obs[batch] categories: ours ['old', 'x', 'q', 'r'], concat ['old', 'q', 'r', 'x']"},
		{"inner", []string{"--index-unique", ":", "--keys", "x,y,z"}, []string{"--keys", "x,y,z", "--index-unique", ":"}, ""},
	} {
		want := slices.Clone(obsNotes[c.join])
		if c.note != "" {
			want = append(want, c.note)
			slices.Sort(want)
		}
		for _, o := range labelOutputs {
			merged := filepath.Join(dir, "merged"+string(rune('0'+k))+strings.Join(o.args, "")+o.ext)
			mustMerge(t, append(append(append([]string{"--join", c.join, merged}, inputs...), c.flags...), o.args...)...)
			if got := obsCheck(t, c.join, merged, inputs, c.check...); !slices.Equal(got, want) {
				t.Errorf("%s %v: differences from anndata.concat\n got: %q\nwant: %q", merged, c.flags, got, want)
			}
		}
	}
}

// The first input lacks the label's column: with --join outer the label
// takes the place the later input's column takes, with --join inner it
// comes last, and nothing is said about the column left out.
func TestMergeLabelReplacesALaterInputsColumn(t *testing.T) {
	needCurrent(t)
	dir := t.TempDir()
	in := makeObsInputs(t, dir, []string{"h5ad", "zarr", "zarr"}, "--collection")
	inputs := []string{in[1], in[0], in[2]}
	flags := []string{"--label", "batch", "--keys", "b,a,c"}
	for _, join := range []string{"outer", "inner"} {
		merged := filepath.Join(dir, "merged_"+join+".zarr")
		r := mustMerge(t, append(append([]string{"--join", join, merged}, inputs...), flags...)...)
		if strings.Contains(r.stderr, "obs/batch") {
			t.Errorf("%s: a warning about the label's column: %s", merged, r.stderr)
		}
		obsCheck(t, join, merged, inputs, flags...) // its problems fail the test; its notes are merge_obs's
	}
}

// A numeric column whose first input has the common type (int64) and a
// later one another (int32) is converted as it is read (it was stacked
// as it is: a read past the later input's end).
func TestMergePromotesColumnsWhoseFirstInputHasTheCommonType(t *testing.T) {
	needCurrent(t)
	dir := t.TempDir()
	in := makeObsInputs(t, dir, []string{"zarr", "h5ad", "h5ad"})
	inputs := []string{in[1], in[0], in[2]}
	for _, ext := range []string{".h5ad", ".zarr"} {
		merged := filepath.Join(dir, "merged"+ext)
		mustMerge(t, append([]string{merged}, inputs...)...)
		obsCheck(t, "outer", merged, inputs) // its problems fail the test
	}
}

func TestMergeLabelRefusesBadKeys(t *testing.T) {
	needCurrent(t)
	dir := t.TempDir()
	inputs := makeObsInputs(t, dir, []string{"h5ad", "zarr", "h5ad"})
	// a second p0.h5ad, in another directory: the same stem
	again := filepath.Join(t.TempDir(), "p0.h5ad")
	raw, err := os.ReadFile(inputs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(again, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		args  []string
		code  int
		inMsg string
	}{
		{"too few keys", append(slices.Clone(inputs), "--label", "batch", "--keys", "a,b"), 2, "--keys gives 2 keys for 3 inputs"},
		{"too many keys", append(slices.Clone(inputs), "--index-unique", "-", "--keys", "a,b,c,d"), 2, "--keys gives 4 keys for 3 inputs"},
		{"duplicate keys", append(slices.Clone(inputs), "--label", "batch", "--keys", "a,b,a"), 2, `--keys gives "a" twice`},
		{"duplicate stems", []string{inputs[0], inputs[1], again, "--label", "batch"}, 2, inputs[0] + " and " + again + ` have the same name "p0"`},
		{"duplicate stems, index", []string{inputs[0], again, "--index-unique", "-"}, 2, "give the keys with --keys"},
		{"empty label", append(slices.Clone(inputs), "--label", ""), 2, "--label needs a column name"},
		{"label with a slash", append(slices.Clone(inputs), "--label", "a/b"), 2, "cannot contain '/'"},
		{"keys alone", append(slices.Clone(inputs), "--keys", "a,b,c"), 2, "--keys is used only with --label or --index-unique"},
		{"label is the index", append(slices.Clone(inputs), "--label", "_index"), 1, inputs[0] + `: obs/_index: the label "_index" is the name of obs's index`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged.h5ad")
			r := annslicer(t, append([]string{"merge", out}, c.args...)...)
			msg := strings.TrimSpace(r.stderr)
			if r.code != c.code || strings.Contains(msg, "\n") {
				t.Fatalf("want exit %d and one line, got %d: %q", c.code, r.code, msg)
			}
			if !strings.Contains(msg, c.inMsg) {
				t.Errorf("message %q lacks %q", msg, c.inMsg)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
	// the same stems are fine with --keys
	mustMerge(t, filepath.Join(dir, "ok.h5ad"), inputs[0], again, "--label", "batch", "--keys", "first,second")
}
