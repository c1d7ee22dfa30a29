package org.hyperdmabuf.daemon.policy;

import java.util.List;
import java.util.Locale;

/** "Did you mean" hints for misspelt policy keys and tables. */
final class KeyHints
{
    private KeyHints()
    {
    }

    /** The known name within edit distance 2 of {@code key}, if any. */
    static String suggest(final String key, final List<String> known)
    {
        String best = null;
        int bestDistance = 3;
        for (final String k : known)
        {
            final int d = distance(key.toLowerCase(Locale.ROOT), k);
            if (d < bestDistance)
            {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Optimal string alignment distance (Levenshtein plus adjacent transpositions: "form" -> "from" is 1). */
    private static int distance(final String a, final String b)
    {
        final int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++)
        {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++)
        {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++)
        {
            for (int j = 1; j <= b.length(); j++)
            {
                final int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1))
                {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
