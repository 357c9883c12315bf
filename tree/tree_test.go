package tree

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// VerbatimStrings reads each array once and shares it; while one array
// is being read, another can be: the read of "a" here waits for the read
// of "b", which a lock held over every read would never let start. A
// failed read is not kept.
func TestVerbatimStringsReadOncePerArrayAndApart(t *testing.T) {
	var s Source
	bRead := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.VerbatimStrings("a", func() ([]string, error) {
			select {
			case <-bRead:
				return []string{"a"}, nil
			case <-time.After(10 * time.Second):
				return nil, errors.New(`the read of "b" never ran while "a" was being read`)
			}
		})
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // let "a" start first (either order must work)
	b, err := s.VerbatimStrings("b", func() ([]string, error) { close(bRead); return []string{"b"}, nil })
	if err != nil || !slices.Equal(b, []string{"b"}) {
		t.Fatalf("b: %q %v", b, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	reads := 0
	for range 3 {
		a, err := s.VerbatimStrings("a", func() ([]string, error) { reads++; return []string{"x"}, nil })
		if err != nil || !slices.Equal(a, []string{"a"}) {
			t.Fatalf("a again: %q %v, want the first read's", a, err)
		}
	}
	if reads != 0 {
		t.Errorf("a read %d more times", reads)
	}
	if _, err := s.VerbatimStrings("c", func() ([]string, error) { return nil, errors.New("broken") }); err == nil {
		t.Fatal("c: no error")
	}
	c, err := s.VerbatimStrings("c", func() ([]string, error) { return []string{"c"}, nil })
	if err != nil || !slices.Equal(c, []string{"c"}) {
		t.Fatalf("c after a failed read: %q %v", c, err)
	}
}
