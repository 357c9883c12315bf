package h5w

// Sizing files laid out like one another without describing each.

// Sizer gives the size of files laid out like one File: the same objects
// with the same headers, only what their datasets hold differing (their
// strings, their data in the metadata area, their reserved bytes). A
// mount's shards are such files; describing each to h5w, only to learn
// its size for a stat, was most of what sizing 100,000 shards cost.
type Sizer struct {
	end  uint64 // where the headers end
	objs []sizerObj
}

type sizerObj struct {
	group    bool
	attrStrs [][]string // its attributes' strings, in order (shared, never changed)
}

// Contents is what a dataset holds besides its header (Sizer.Size).
type Contents struct {
	Strs   []string // Strings' or Data's strings, in order
	Size   int      // bytes in the metadata area (Data, Strings: a descriptor a string)
	Extent int64    // bytes reserved (Reserve)
}

// Sizer is f's: f described (every object and attribute made), laid out
// or not.
func (f *File) Sizer() (*Sizer, error) {
	s := &Sizer{end: uint64(f.base), objs: make([]sizerObj, len(f.objs))}
	var msgs []byte
	for i, o := range f.objs {
		var err error
		if msgs, err = o.messages(nil, msgs[:0]); err != nil {
			return nil, err
		}
		s.end += uint64(headerSize(len(msgs)))
		so := &s.objs[i]
		so.group = o.group
		for _, a := range o.attrs {
			if len(a.v.strs) > 0 {
				so.attrStrs = append(so.attrStrs, a.v.strs)
			}
		}
	}
	return s, nil
}

// Objects is the number of objects, groups included, in the File's order
// (the order Size's contents are in).
func (s *Sizer) Objects() int { return len(s.objs) }

// Group reports whether object i is a group (its contents are ignored).
func (s *Sizer) Group(i int) bool { return s.objs[i].group }

// Size is the size of the file whose dataset i holds c(i) (c is called
// for datasets only, more than once each): laid out as a File is.
func (s *Sizer) Size(c func(i int) Contents) int64 {
	p := packer{cur: s.end}
	for i, o := range s.objs {
		for _, ss := range o.attrStrs {
			for _, str := range ss {
				p.add(len(str))
			}
		}
		if !o.group {
			for _, str := range c(i).Strs {
				p.add(len(str))
			}
		}
	}
	if p.col.n > 0 {
		p.close()
	}
	cur := p.cur
	for i, o := range s.objs {
		if !o.group {
			if n := c(i).Size; n > 0 {
				cur += uint64(n)
			}
		}
	}
	for i, o := range s.objs {
		if !o.group {
			if e := c(i).Extent; e > 0 {
				cur = extentAt(cur, e) + uint64(e)
			}
		}
	}
	return int64(cur)
}
