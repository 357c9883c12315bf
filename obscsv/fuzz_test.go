package obscsv

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzColumn feeds arbitrary bytes to Column's CSV reading: it must never
// panic, errors are one line, and a result is a valid categorical for the
// cells (a code per cell, each -1 or a category's, categories distinct and
// valid UTF-8, as Overlay requires). `go test` replays the corpus under
// testdata/fuzz/FuzzColumn; run longer with
// go test -run '^$' -fuzz FuzzColumn -fuzztime 30s ./obscsv
func FuzzColumn(f *testing.F) {
	for _, c := range columnCases {
		f.Add([]byte(c.text), "")
	}
	f.Add([]byte("C,k\nx,c1\ny,c2\nx,c3\nz, c1\n"), "k")
	f.Add([]byte("k,C\nc1,\"a\nb\"\nc2,\"\"\nc3,1e5\n"), "")
	f.Add([]byte("\xef\xbb\xbfk,C\r\nc1,true\r\nc2,FALSE\r\nc3,\r\n"), "k")
	cells := []string{"c1", "c2", "c3", " c1"}
	f.Fuzz(func(t *testing.T, csv []byte, join string) {
		codes, cats, err := readColumn(bytes.NewReader(csv), join, "C", cells)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a multi-line error: %q", err)
			}
			return
		}
		if len(codes) != len(cells) {
			t.Fatalf("%d codes for %d cells", len(codes), len(cells))
		}
		seen := map[string]bool{}
		for _, c := range cats {
			if seen[c] || !utf8.ValidString(c) {
				t.Fatalf("category %q repeated or not UTF-8: %q", c, cats)
			}
			seen[c] = true
		}
		for i, c := range codes {
			if c < -1 || int(c) >= len(cats) {
				t.Fatalf("cell %d: code %d of %d categories", i, c, len(cats))
			}
		}
		if codes[0] != codes[3] {
			t.Fatalf("cells named c1 and \" c1\" (the same stripped) got codes %d and %d", codes[0], codes[3])
		}
	})
}
