package cgcore

// Write is one planned cgroup file write.
type Write struct {
	Dir, File, Data string
}

// Plan is an ordered list of writes. Drivers compute the whole plan first,
// failing with a field-naming error before touching anything, then Execute
// it; so Set is all or nothing as far as validation can tell.
type Plan []Write

// Add appends a write.
func (p *Plan) Add(dir, file, data string) { *p = append(*p, Write{dir, file, data}) }

// Execute performs the writes in order and stops at the first error.
func (p Plan) Execute() error {
	for _, w := range p {
		if err := WriteFile(w.Dir, w.File, w.Data); err != nil {
			return err
		}
	}
	return nil
}
