"""The work waiting, counted for the menu (issue 20): each count is one indexed COUNT (or a read
of a list that is small by nature), never a scan of the registry or the screenings."""
