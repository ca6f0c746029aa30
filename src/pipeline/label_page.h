/* label_page.h — the web page `lmforge label` serves (label_page.c). */
#ifndef LMF_LABEL_PAGE_H
#define LMF_LABEL_PAGE_H

extern const char label_page_html[];

#endif
