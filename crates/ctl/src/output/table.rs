//! Column alignment with the semantics of Go's `text/tabwriter`, which ctr
//! prints its tables with: cells end with a tab, a column block is a run of
//! consecutive lines that have a cell in that column, and each cell in a
//! block is padded with spaces to the widest cell plus the padding. The text
//! after a line's last tab is not aligned.

/// Collects tab-separated lines and aligns them on [`TabWriter::finish`].
#[derive(Debug, Clone)]
pub struct TabWriter {
    min_width: usize,
    padding: usize,
    text: String,
}

impl TabWriter {
    /// A writer whose columns are at least `min_width` wide and padded by
    /// `padding` spaces (ctr uses 1 and 1 for most tables, 4 and 4 for
    /// plugins).
    pub fn new(min_width: usize, padding: usize) -> Self {
        TabWriter {
            min_width,
            padding,
            text: String::new(),
        }
    }

    /// Adds one line: each cell is followed by a tab, as ctr's
    /// `"%s\t%s\t\n"` lines are.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        for cell in cells {
            self.text.push_str(cell.as_ref());
            self.text.push('\t');
        }
        self.text.push('\n');
    }

    /// Adds raw text with tabs and newlines.
    pub fn raw(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// The aligned text.
    pub fn finish(self) -> String {
        let lines: Vec<Vec<&str>> = self
            .text
            .split('\n')
            .map(|line| line.split('\t').collect())
            .collect();
        let mut out = String::with_capacity(self.text.len() * 2);
        let mut widths = Vec::new();
        let mut formatter = Formatter {
            lines: &lines,
            min_width: self.min_width,
            padding: self.padding,
            out: &mut out,
        };
        formatter.format(&mut widths, 0, lines.len());
        out
    }
}

struct Formatter<'a> {
    lines: &'a [Vec<&'a str>],
    min_width: usize,
    padding: usize,
    out: &'a mut String,
}

impl Formatter<'_> {
    /// Go's `(*Writer).format`: finds the column blocks of column
    /// `widths.len()` in `line0..line1` and recurses into each.
    fn format(&mut self, widths: &mut Vec<usize>, mut line0: usize, line1: usize) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(widths, line0, this);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < self.lines[this].len() {
                width = width.max(self.lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format(widths, line0, this);
            widths.pop();
            line0 = this;
        }
        self.write_lines(widths, line0, line1);
    }

    fn write_lines(&mut self, widths: &[usize], line0: usize, line1: usize) {
        for i in line0..line1 {
            let line = &self.lines[i];
            for (j, cell) in line.iter().enumerate() {
                self.out.push_str(cell);
                if let Some(&width) = widths.get(j) {
                    let pad = width.saturating_sub(cell.chars().count());
                    self.out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_ctr_namespaces_ls() {
        let mut tw = TabWriter::new(1, 1);
        tw.row(&["NAME", "LABELS"]);
        tw.row(&["foo", "c=true"]);
        assert_eq!(tw.finish(), "NAME LABELS \nfoo  c=true \n");
    }

    #[test]
    fn trailing_text_is_not_padded() {
        let mut tw = TabWriter::new(1, 1);
        tw.raw("DIGEST\tSIZE\tLABELS\n");
        tw.raw("sha256:abc\t6B\t-\n");
        assert_eq!(tw.finish(), "DIGEST     SIZE LABELS\nsha256:abc 6B   -\n");
    }

    #[test]
    fn blocks_end_at_lines_without_the_column() {
        let mut tw = TabWriter::new(4, 4);
        tw.raw("Type:\t x\n");
        tw.raw("Exports:\t\n");
        tw.raw("\t k \t v\n");
        tw.raw("no tabs\n");
        tw.raw("ID:\t y\n");
        assert_eq!(
            tw.finish(),
            "Type:        x\nExports:    \n             k      v\nno tabs\nID:     y\n"
        );
    }
}
