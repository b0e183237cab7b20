package ferry

import (
	"os"
	"testing"

	"github.com/ferryhq/ferry/internal/scratch/scratchtest"
)

// TestMain fails the run if a test leaves a sender's snapshot behind.
func TestMain(m *testing.M) { os.Exit(scratchtest.Main(m, "ferry-snapshot")) }
