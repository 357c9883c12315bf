package h5ad

import (
	"fmt"
	"os"
	"sync"
)

// scratch holds files derived from a source once and reused by every
// shard (e.g. the template of its verbatim elements), removed at Close.
type scratch struct {
	mu   sync.Mutex
	dir  string
	made map[string]string
	errs map[string]error
	// tmpls are the templates of goencode.go, by key, once read back
	tmpls map[string]*goTemplate
	// parent is where the directory is made ("": the system's temporary
	// directory)
	parent string
}

// ScratchIn makes the source's scratch directory, when one is needed,
// inside dir (a mount's own scratch directory: every file a mount makes
// then lies under the one directory it removes). Call it before any
// shard is encoded.
func (s *Source) ScratchIn(dir string) {
	s.scr.mu.Lock()
	s.scr.parent = dir
	s.scr.mu.Unlock()
}

// Scratch returns the file made by build for key, building it on first use
// in a private temporary directory.
func (s *Source) Scratch(key string, build func(src *Source, dir string) (string, error)) (string, error) {
	s.scr.mu.Lock()
	defer s.scr.mu.Unlock()
	if p, ok := s.scr.made[key]; ok {
		return p, s.scr.errs[key]
	}
	if s.scr.dir == "" {
		// The PID in the name lets a later run remove it after kill -9.
		d, err := os.MkdirTemp(s.scr.parent, fmt.Sprintf("annslicer-src-%d-", os.Getpid()))
		if err != nil {
			return "", err
		}
		s.scr.dir, s.scr.made, s.scr.errs = d, map[string]string{}, map[string]error{}
	}
	p, err := build(s, s.scr.dir)
	s.scr.made[key], s.scr.errs[key] = p, err
	return p, err
}

func (s *Source) removeScratch() {
	s.scr.mu.Lock()
	defer s.scr.mu.Unlock()
	if s.scr.dir != "" {
		os.RemoveAll(s.scr.dir)
		s.scr.dir = ""
	}
}
