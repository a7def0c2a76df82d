/* Stub: the API of maildir.h, to be implemented. */
#include "maildir.h"

#define STUB(err) xi_error_set(err, XI_ERR_UNSUPPORTED, "maildir storage is not implemented yet")

void xi_maildir_settings_default(struct xi_maildir_settings *set)
{
	set->lock_stale_seconds = 120;
	set->lock_timeout_seconds = 120;
	set->fsync = true;
}
int xi_maildir_open(const char *root, bool create, const struct xi_maildir_settings *set,
		    struct xi_maildir **md_out, struct xi_error *err) { *md_out = NULL; return STUB(err); }
void xi_maildir_close(struct xi_maildir *md) { }
const char *xi_maildir_root(const struct xi_maildir *md) { return ""; }
int xi_maildir_folder_name_check(const char *name, struct xi_error *err) { return STUB(err); }
int xi_maildir_folder_list(struct xi_maildir *md, char ***names_out, size_t *count_out,
			   struct xi_error *err) { return STUB(err); }
void xi_maildir_folder_list_free(char **names, size_t count) { }
int xi_maildir_folder_create(struct xi_maildir *md, const char *name, struct xi_error *err) { return STUB(err); }
int xi_maildir_folder_delete(struct xi_maildir *md, const char *name, struct xi_error *err) { return STUB(err); }
int xi_maildir_folder_rename(struct xi_maildir *md, const char *from, const char *to,
			     struct xi_error *err) { return STUB(err); }
int xi_maildir_delivery_begin(struct xi_maildir *md, const char *folder,
			      struct xi_maildir_delivery **dlv_out, struct xi_error *err) { return STUB(err); }
int xi_maildir_delivery_write(struct xi_maildir_delivery *dlv, const void *data, size_t len,
			      struct xi_error *err) { return STUB(err); }
int xi_maildir_delivery_commit(struct xi_maildir_delivery *dlv, unsigned flags, uint32_t *uid_out,
			       struct xi_error *err) { return STUB(err); }
void xi_maildir_delivery_abort(struct xi_maildir_delivery *dlv) { }
int xi_maildir_deliver(struct xi_maildir *md, const char *folder, const void *data, size_t len,
		       unsigned flags, uint32_t *uid_out, struct xi_error *err) { return STUB(err); }
int xi_mailbox_open(struct xi_maildir *md, const char *folder, bool read_only,
		    struct xi_mailbox **mb_out, struct xi_error *err) { return STUB(err); }
int xi_mailbox_sync(struct xi_mailbox *mb, struct xi_error *err) { return STUB(err); }
void xi_mailbox_close(struct xi_mailbox *mb) { }
uint32_t xi_mailbox_uidvalidity(const struct xi_mailbox *mb) { return 0; }
uint32_t xi_mailbox_uidnext(const struct xi_mailbox *mb) { return 0; }
size_t xi_mailbox_count(const struct xi_mailbox *mb) { return 0; }
const struct xi_maildir_message *xi_mailbox_message(const struct xi_mailbox *mb, size_t index) { return NULL; }
ssize_t xi_mailbox_find_uid(const struct xi_mailbox *mb, uint32_t uid) { return -1; }
size_t xi_mailbox_keyword_count(const struct xi_mailbox *mb) { return 0; }
const char *xi_mailbox_keyword_name(const struct xi_mailbox *mb, unsigned index) { return NULL; }
int xi_mailbox_keyword_lookup(struct xi_mailbox *mb, const char *name, bool create,
			      unsigned *index_out, struct xi_error *err) { return STUB(err); }
int xi_mailbox_message_open(struct xi_mailbox *mb, size_t index, int *fd_out,
			    struct xi_error *err) { return STUB(err); }
int xi_mailbox_message_stream(struct xi_mailbox *mb, size_t index, FILE **fp_out,
			      struct xi_error *err) { return STUB(err); }
int xi_mailbox_set_flags(struct xi_mailbox *mb, size_t index, enum xi_flag_mode mode,
			 unsigned flags, uint32_t keywords, struct xi_error *err) { return STUB(err); }
int xi_mailbox_expunge(struct xi_mailbox *mb, size_t index, struct xi_error *err) { return STUB(err); }
int xi_mailbox_expunge_deleted(struct xi_mailbox *mb, size_t *count_out,
			       struct xi_error *err) { return STUB(err); }
int xi_maildir_info_parse(const char *info, unsigned *flags_out, uint32_t *keywords_out) { return -1; }
void xi_maildir_info_format(unsigned flags, uint32_t keywords, char *buf, size_t bufsize) { if (bufsize) buf[0] = '\0'; }
int xi_maildir_basename_size(const char *basename, char key, uint64_t *value_out) { return -1; }
