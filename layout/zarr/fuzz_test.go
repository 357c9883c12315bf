package zarr

import (
	"runtime"
	"testing"
)

// Fuzz targets for every parser of untrusted bytes in this package. Each
// must never panic and never allocate by a declared size: withinBudget
// fails an input whose handling allocates more than its own bytes can
// justify. `go test` replays the seeds and testdata/fuzz/<Name>/.

// withinBudget runs fn and fails when it allocates more than budget bytes.
func withinBudget(t *testing.T, budget uint64, fn func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > budget {
		t.Fatalf("allocated %d bytes, more than the %d this input justifies", d, budget)
	}
}

// docBudget is what parsing a document of n bytes may allocate.
func docBudget(n int) uint64 { return 1<<20 + 256*uint64(n) }

// exercise calls what readers call on a parsed array description, all of
// which must stay bounded whatever it declares.
func exercise(t *testing.T, m *ArrayMeta) {
	if err := m.Validate(); err != nil {
		t.Fatalf("parsed metadata does not validate: %v", err)
	}
	_ = m.ChunkCount()
	_ = m.Grid()
	_ = m.ChunkKey(make([]int, len(m.Shape)))
	if m.ChunkBytes() > MaxChunkBytes || m.ChunkBytes() < 0 {
		t.Fatalf("chunk of %d bytes passed validation", m.ChunkBytes())
	}
	_, _ = m.MarshalZarray()
	_, _ = m.MarshalZarrJSON(nil)
}

func seedDocs(f *testing.F, format int) {
	metas := []ArrayMeta{
		{Format: format, Shape: []int{100}, Chunks: []int{30}, DType: MustDType("<f4"), Codecs: []Codec{Blosc{CName: "lz4", CLevel: 5, Shuffle: 1}}},
		{Format: format, Shape: []int{7, 5}, Chunks: []int{3, 5}, DType: MustDType("<i8"), Codecs: []Codec{Zstd{Level: 3}}, FillValue: []byte("0")},
		{Format: format, Shape: []int{9}, Chunks: []int{4}, DType: MustDType("|O"), Codecs: []Codec{Gzip{Level: 1}}},
		{Format: format, Shape: []int{6, 4}, Chunks: []int{4, 4}, DType: MustDType("<f8"), Codecs: []Codec{Zlib{Level: 1}}, FillValue: []byte("NaN")},
	}
	if format == 3 {
		metas = append(metas, ArrayMeta{Format: 3, Shape: []int{10, 4}, Chunks: []int{4, 4}, DType: MustDType("<u2"),
			Shard: &Sharding{Chunks: []int{2, 2}, IndexCodecs: []Codec{CRC32C{}}}})
	}
	for i := range metas {
		var b []byte
		var err error
		if format == 2 {
			b, err = metas[i].MarshalZarray()
		} else {
			b, err = metas[i].MarshalZarrJSON(Attrs{"encoding-type": []byte(`"array"`)})
		}
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzZarray(f *testing.F) {
	seedDocs(f, 2)
	f.Add([]byte(`{"chunks":[1],"compressor":null,"dtype":"<f8","fill_value":0,"filters":null,"order":"C","shape":[1099511627776],"zarr_format":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		withinBudget(t, docBudget(len(data)), func() {
			if m, err := parseZarray(data); err == nil {
				exercise(t, m)
			}
		})
	})
}

func FuzzZattrs(f *testing.F) {
	f.Add([]byte(`{"encoding-type": "dataframe", "_index": "_index", "column-order": ["a", "b"], "x": NaN}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		withinBudget(t, docBudget(len(data)), func() {
			v, err := parseJSON(data)
			if err != nil {
				return
			}
			if a, err := attrsFromJSON(v, data); err == nil {
				_, _ = MarshalZattrs(a)
			}
		})
	})
}

func FuzzZgroup(f *testing.F) {
	f.Add(ZgroupJSON())
	f.Add([]byte(`{"zarr_format": 3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		withinBudget(t, docBudget(len(data)), func() {
			if v, err := parseJSON(data); err == nil {
				_ = checkZgroup(v)
			}
		})
	})
}

func FuzzZmetadata(f *testing.F) {
	za, _ := (&ArrayMeta{Format: 2, Shape: []int{5}, Chunks: []int{5}, DType: MustDType("<f4")}).MarshalZarray()
	cons, _ := MarshalConsolidated(map[string][]byte{
		".zgroup": ZgroupJSON(), ".zattrs": []byte(`{"encoding-type": "anndata"}`),
		"X/.zarray": za, "X/.zattrs": []byte(`{}`), "obs/.zgroup": ZgroupJSON(),
	})
	f.Add(cons)
	f.Fuzz(func(t *testing.T, data []byte) {
		withinBudget(t, docBudget(len(data)), func() {
			docs, err := parseZmetadata(data)
			if err != nil {
				return
			}
			for k, v := range docs {
				switch {
				case len(k) >= 7 && k[len(k)-7:] == ".zarray":
					if m, err := zarrayFromJSON(v, data); err == nil {
						exercise(t, m)
					}
				case len(k) >= 7 && k[len(k)-7:] == ".zattrs":
					_, _ = attrsFromJSON(v, data)
				case len(k) >= 7 && k[len(k)-7:] == ".zgroup":
					_ = checkZgroup(v)
				}
			}
		})
	})
}

func FuzzZarrJSON(f *testing.F) {
	seedDocs(f, 3)
	g, _ := MarshalGroupZarrJSON(Attrs{"encoding-type": []byte(`"anndata"`)})
	f.Add(g)
	f.Add([]byte(`{"zarr_format":3,"node_type":"group","consolidated_metadata":{"kind":"inline","metadata":{"X":{"zarr_format":3,"node_type":"array"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		withinBudget(t, docBudget(len(data)), func() {
			n, err := parseZarrJSON(data)
			if err != nil {
				return
			}
			if n.meta != nil {
				exercise(t, n.meta)
			}
			for _, v := range n.consolidated {
				if c, err := zarrJSONFromValue(v, data); err == nil && c.meta != nil {
					exercise(t, c.meta)
				}
			}
		})
	})
}
