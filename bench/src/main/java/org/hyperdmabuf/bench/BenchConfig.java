package org.hyperdmabuf.bench;

/** Sizes of one harness run: rounds, warm-ups and frame counts of the figures, CI-sized ({@code --quick}) or full. */
record BenchConfig(boolean quick, int reps, int shmRounds, int shmWarmup, int blockRounds, int blockWarmup,
    int spinRounds, int spinWarmup, int jBlockRounds, int jBlockWarmup, int width, int height, int buffers,
    int frames, int frameWarmup, int cFrames, int unixFrames)
{
    static BenchConfig of(final boolean quick, final Integer reps)
    {
        return quick ?
            new BenchConfig(true, reps == null ? 3 : reps, 100_000, 10_000, 5_000, 1_000, 50_000, 50_000, 2_000,
                2_000, 3840, 2160, 3, 60, 30, 100, 30) :
            new BenchConfig(false, reps == null ? 5 : reps, 1_000_000, 100_000, 50_000, 5_000, 500_000, 200_000,
                20_000, 10_000, 3840, 2160, 3, 300, 300, 500, 150);
    }
}
