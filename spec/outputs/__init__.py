"""What people read: the HTML trace viewer (:mod:`.html`,
:mod:`.sequence`), the review report (:mod:`.report`, rendered by :mod:`.markdown` and
:mod:`.report_html`), JUnit XML (:mod:`.junit`) and Graphviz DOT (:mod:`.dot`). A trace as text is
:mod:`hintspec.traces.text`: the checkers use it too, for their messages."""
